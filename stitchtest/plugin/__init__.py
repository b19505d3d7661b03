"""The pytest plugin (:mod:`.hooks`, the ``pytest11`` entry point, which only hands off to one
:class:`~.session.AuditSession` per run, the owner of all its state): options, the session's start and
finish, rows relayed from xdist workers, group scheduling and live progress. It is inert, and
imports no torch, until tests marked ``testbed`` are collected."""
