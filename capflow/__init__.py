"""capflow: the CapRetrieval study of fine-grained dense retrieval as a Snakemake workflow."""

__version__ = "0.1.0"
