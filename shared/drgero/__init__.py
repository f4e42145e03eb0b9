"""Dr.Gero's domain package: plain Python that handlers call.

Domain code never reads os.environ and never builds its own AWS clients: settings
(drgero.core.settings.Settings) and clients (drgero.core.aws.AwsClients) are passed in.
"""

__version__ = "0.1.0"
