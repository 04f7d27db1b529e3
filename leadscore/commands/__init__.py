"""One room per `leadscore` subcommand: each module names its command (`NAME`, `HELP`,
`DESCRIPTION`) and declares its options (`add_options`) next to the handler that uses them
(`run`); leadscore/cli.py registers every room the same way.

Handlers import what they need when they run, so `leadscore --help` stays fast and a command
pays only for the packages it uses. options.py holds what several commands share.
"""
