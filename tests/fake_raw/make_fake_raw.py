"""Write tiny fake raw files in the exact format (and quirks) of the real ones.

Run ``python tests/fake_raw/make_fake_raw.py`` to regenerate the files next to
this script. Quirks reproduced: Adult's ``, `` separator, ``?`` for missing
values, the test file's ``|1x3 Cross validator`` first line and its labels
ending in ``.``; COMPAS's duplicated ``decile_score``/``priors_count`` header
names and rows that ProPublica's filter removes; German's space-separated
codes with the class coded 1 (good) / 2 (bad).

The files are generated from fixed lists (no randomness), so the expected
counts in the tests are derived by hand from the rows below.
"""

from pathlib import Path

HERE = Path(__file__).parent

# Adult: 6 training rows (one with "?" in workclass, one with "?" in native-country),
# 4 test rows (one with "?" in occupation). Clean: 4 train, 3 test; >50K: 2 train, 1 test.
ADULT_TRAIN = [
    "39, State-gov, 77516, Bachelors, 13, Never-married, Adm-clerical, Not-in-family, White, Male, 2174, 0, 40, United-States, <=50K",
    "50, Self-emp-not-inc, 83311, Bachelors, 13, Married-civ-spouse, Exec-managerial, Husband, White, Male, 0, 0, 13, United-States, >50K",
    "38, ?, 215646, HS-grad, 9, Divorced, ?, Not-in-family, White, Male, 0, 0, 40, United-States, <=50K",
    "53, Private, 234721, 11th, 7, Married-civ-spouse, Handlers-cleaners, Husband, Black, Male, 0, 0, 40, ?, <=50K",
    "28, Private, 338409, Bachelors, 13, Married-civ-spouse, Prof-specialty, Wife, Black, Female, 0, 0, 40, Cuba, >50K",
    "37, Private, 284582, Masters, 14, Married-civ-spouse, Exec-managerial, Wife, White, Female, 0, 0, 40, United-States, <=50K",
]
ADULT_TEST = [
    "25, Private, 226802, 11th, 7, Never-married, Machine-op-inspct, Own-child, Black, Male, 0, 0, 40, United-States, <=50K.",
    "38, Private, 89814, HS-grad, 9, Married-civ-spouse, Farming-fishing, Husband, White, Male, 0, 0, 50, United-States, <=50K.",
    "18, Private, 103497, Some-college, 10, Never-married, ?, Own-child, White, Female, 0, 0, 30, United-States, <=50K.",
    "44, Private, 160323, Some-college, 10, Married-civ-spouse, Machine-op-inspct, Husband, Black, Male, 7688, 0, 40, United-States, >50K.",
]

COMPAS_HEADER = (
    "id,name,first,last,compas_screening_date,sex,dob,age,age_cat,race,juv_fel_count,decile_score,"
    "juv_misd_count,juv_other_count,priors_count,days_b_screening_arrest,c_jail_in,c_jail_out,"
    "c_case_number,c_offense_date,c_arrest_date,c_days_from_compas,c_charge_degree,c_charge_desc,"
    "is_recid,r_case_number,r_charge_degree,r_days_from_arrest,r_offense_date,r_charge_desc,r_jail_in,"
    "r_jail_out,violent_recid,is_violent_recid,vr_case_number,vr_charge_degree,vr_offense_date,"
    "vr_charge_desc,type_of_assessment,decile_score,score_text,screening_date,v_type_of_assessment,"
    "v_decile_score,v_score_text,v_screening_date,in_custody,out_custody,priors_count,start,end,event,"
    "two_year_recid"
)
# (sex, age, age_cat, race, priors, days_b_screening_arrest, c_charge_degree, is_recid, two_year)
# Rows 4 (days 45), 5 (is_recid -1) and 6 (charge O) fail ProPublica's filter: 5 of 8 rows pass,
# 4 of them African-American or Caucasian; two_year_recid among the 5: 2.
COMPAS_ROWS = [
    ("Male", 69, "Greater than 45", "Other", 0, -1, "F", 0, 0),
    ("Male", 34, "25 - 45", "African-American", 0, -1, "F", 1, 1),
    ("Male", 24, "Less than 25", "African-American", 4, -1, "F", 1, 1),
    ("Female", 23, "Less than 25", "Caucasian", 1, 0, "M", 0, 0),
    ("Male", 41, "25 - 45", "Caucasian", 14, 45, "F", 1, 1),
    ("Male", 43, "25 - 45", "Caucasian", 3, 0, "F", -1, 0),
    ("Female", 39, "25 - 45", "Caucasian", 0, 0, "O", 0, 0),
    ("Female", 21, "Less than 25", "Caucasian", 0, 1, "M", 0, 0),
]

# German: 6 rows, class 1 (good) x4, 2 (bad) x2; ages 67, 22, 49, 45, 53, 24 (2 at <= 25);
# personal_status_sex A93 (male), A92 (female), A93, A93, A93, A92.
GERMAN_ROWS = [
    "A11 6 A34 A43 1169 A65 A75 4 A93 A101 4 A121 67 A143 A152 2 A173 1 A192 A201 1",
    "A12 48 A32 A43 5951 A61 A73 2 A92 A101 2 A121 22 A143 A152 1 A173 1 A191 A201 2",
    "A14 12 A34 A46 2096 A61 A74 2 A93 A101 3 A121 49 A143 A152 1 A172 2 A191 A201 1",
    "A11 42 A32 A42 7882 A61 A74 2 A93 A103 4 A122 45 A143 A153 1 A173 2 A191 A201 1",
    "A11 24 A33 A40 4870 A61 A73 3 A93 A101 4 A124 53 A143 A153 2 A173 2 A191 A201 2",
    "A14 36 A32 A46 9055 A65 A73 2 A92 A101 4 A124 24 A143 A153 1 A172 2 A192 A201 1",
]


def compas_line(i: int, row: tuple) -> str:
    sex, age, age_cat, race, priors, days, degree, is_recid, two_year = row
    values = {
        "id": i,
        "name": f"person {i}",
        "first": "person",
        "last": str(i),
        "compas_screening_date": "2013-08-14",
        "sex": sex,
        "dob": "1947-04-18",
        "age": age,
        "age_cat": age_cat,
        "race": race,
        "juv_fel_count": 0,
        "decile_score": 1,
        "juv_misd_count": 0,
        "juv_other_count": 0,
        "priors_count": priors,
        "days_b_screening_arrest": days,
        "c_charge_degree": degree,
        "c_charge_desc": "Aggravated Assault w/Firearm",
        "is_recid": is_recid,
        "type_of_assessment": "Risk of Recidivism",
        "score_text": "Low",
        "v_type_of_assessment": "Risk of Violence",
        "v_decile_score": 1,
        "v_score_text": "Low",
        "two_year_recid": two_year,
    }
    return ",".join(str(values.get(c, "")) for c in COMPAS_HEADER.split(","))


def main() -> None:
    (HERE / "adult.data").write_text("\n".join(ADULT_TRAIN) + "\n\n")
    (HERE / "adult.test").write_text("|1x3 Cross validator\n" + "\n".join(ADULT_TEST) + "\n")
    lines = [COMPAS_HEADER] + [compas_line(i, r) for i, r in enumerate(COMPAS_ROWS, start=1)]
    (HERE / "compas-scores-two-years.csv").write_text("\n".join(lines) + "\n")
    (HERE / "german.data").write_text("\n".join(GERMAN_ROWS) + "\n")


if __name__ == "__main__":
    main()
