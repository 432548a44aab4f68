"""`python -m colorlab.compare`: compare runs in one report (the command lives in colorlab.cli.compare)."""

from colorlab.cli.compare import main

if __name__ == "__main__":
    main()
