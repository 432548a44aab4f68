"""`python -m colorlab.train`: train a colorizer (the command lives in colorlab.cli.train)."""

from colorlab.cli.train import main

if __name__ == "__main__":
    main()
