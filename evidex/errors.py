"""The few exceptions evidex raises; the CLI turns them into one-line messages."""


class EvidexError(Exception):
    "Base class: a problem evidex can describe in one line."

    exit_code = 1


class UsageError(EvidexError):
    "Bad input or configuration: a file, query, option or config key is wrong."

    exit_code = 2


class InputError(UsageError):
    "An input file cannot be read or parsed."


class ConfigError(UsageError):
    "A config file or setting is invalid."


class PluginError(EvidexError):
    "A plugin failed to load, clashed with another, or is misdeclared."

    exit_code = 2


class LockedError(EvidexError):
    "Another evidex run holds the database lock."

    exit_code = 3


class SourceError(EvidexError):
    "A remote source failed after retries or answered with an error."

    exit_code = 4


class IncompleteFetch(SourceError):
    "A fetch ran to its end, but some records or windows could not be fetched: the source is up."


class StorageError(EvidexError):
    "The database file could not be written: a full disk, an I/O error, a read-only file system."

    exit_code = 1
