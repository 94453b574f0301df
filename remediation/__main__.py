"""`python -m remediation ...`: the installed console command."""
from remediation.cli import main

main()
