"""``python -m t7convert`` runs the command line."""
from .cli import main

main()
