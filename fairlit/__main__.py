"""``python -m fairlit`` runs the fairlit command line."""

from fairlit.entry import main

if __name__ == "__main__":
    main()
