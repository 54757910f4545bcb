"""The machinery a run needs, kept apart from the science: CPU threads (:mod:`.cpus`), GPU slots and
``capflow gpu-run`` (:mod:`.devices`), Slurm placement (:mod:`.slurm`) and hardware probes
(:mod:`.hardware`)."""
