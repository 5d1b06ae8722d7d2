"""``python -m fairlit`` runs the fairlit command line."""

from fairlit.cli import main

if __name__ == "__main__":
    main()
