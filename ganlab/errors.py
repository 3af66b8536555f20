"""Errors meant for the user: ``ganlab.run`` prints their message alone and exits with code 2."""


class GanlabError(Exception):
    """A problem with the user's input (config, data, checkpoint), stated in one message."""


class ConfigError(GanlabError):
    """The composed config cannot run: a missing value or an inconsistent choice."""


class CheckpointError(GanlabError):
    """A checkpoint cannot be read or does not fit the composed model."""


class MissingWeightsError(GanlabError):
    """Pretrained weights a net needs are not on this machine (and are never downloaded)."""
