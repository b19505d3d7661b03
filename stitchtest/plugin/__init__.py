"""The pytest plugin (:mod:`.hooks`, the ``pytest11`` entry point): options, the session's start and
finish, rows relayed from xdist workers, group scheduling and live progress. It is inert, and
imports no torch, until tests marked ``testbed`` are collected."""
