# A report batch (rules/report.smk): Snakemake runs this with the rule as `snakemake`; the batch's
# builders are called in this one process (capflow.report.batch).
import sys

from capflow.report.batch import main

sys.exit(main(snakemake))  # noqa: F821 (defined by Snakemake)
