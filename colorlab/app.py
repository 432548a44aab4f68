"""`python -m colorlab.app`: serve the web page (the command lives in colorlab.cli.app)."""

from colorlab.cli.app import main

if __name__ == "__main__":
    main()
