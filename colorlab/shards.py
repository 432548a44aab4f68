"""`python -m colorlab.shards`: write a photo folder as WebDataset shards (the command lives in colorlab.cli.shards)."""

from colorlab.cli.shards import main

if __name__ == "__main__":
    main()
