"""The `snn-tha` command line: `main` (the entry point; `infer` without torch), the commands,
their shared options, the sweep commands and the experiment launcher."""
