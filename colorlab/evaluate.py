"""`python -m colorlab.evaluate`: evaluate a model and the baselines (the command: colorlab.cli.evaluate)."""

from colorlab.cli.evaluate import main

if __name__ == "__main__":
    main()
