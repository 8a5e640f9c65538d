"""Errors a user can fix. The CLI prints them without a traceback and exits with `exit_code`."""


class TixelError(Exception):
    exit_code = 1


class ConfigError(TixelError):
    # 2 is the usage-error status of click/argparse: the run never started.
    exit_code = 2


class DataError(TixelError):
    exit_code = 2


class BundleError(TixelError):
    exit_code = 1
