"""Speed, memory, complexity and learning benchmarks (tools/benchmark.py)."""
