"""``python -m ketasim``: the same command line as ``ketasim``."""

from .cli import main

if __name__ == "__main__":
    main()
