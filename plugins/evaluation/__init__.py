"""The evaluation protocol, shared by the CLI, the workers' quality gate and the benchmarks:
splits, rating and top-N metrics, and the runner."""
