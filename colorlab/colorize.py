"""`python -m colorlab.colorize`: colorize photos and videos (the command lives in colorlab.cli.colorize)."""

from colorlab.cli.colorize import main

if __name__ == "__main__":
    main()
