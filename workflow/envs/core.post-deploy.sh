#!/usr/bin/env bash
# Snakemake runs this inside the core env once it has built it: NLTK's English Punkt model, which the
# dataset authors' English BM25 (recipe tokenizer nltk-porter) needs, from the package index.
set -euo pipefail
capflow nltk-data
