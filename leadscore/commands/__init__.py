"""One room per `leadscore` subcommand: each module declares its options (`add`) next to the
handler that uses them (`run`).

Handlers import what they need when they run, so `leadscore --help` stays fast and a command
pays only for the packages it uses. options.py holds what several commands share.
"""
