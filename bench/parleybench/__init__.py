"""Load generator for parley: the chat-server workloads of /work/shared/bench/WORKLOADS.md.

`bench/run.py` is the entry point. One module per workload lives in `parleybench.workloads`; everything they
share (server process, HTTP client, CPU accounting, statistics, report) lives in the sibling modules.
"""
