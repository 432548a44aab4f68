"""`python -m colorlab.download`: download a dataset (the command lives in colorlab.cli.download)."""

from colorlab.cli.download import main

if __name__ == "__main__":
    main()
