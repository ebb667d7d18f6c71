"""``python -m t7convert`` runs the command line."""
from t7convert.cli import main

main()
