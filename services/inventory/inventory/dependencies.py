"""What inventory's entrypoints are given besides the shared ones: its card keys and stock gauge."""

from nameko.extensions import DependencyProvider

from inventory.crypto import load_keyring
from kameng_common.sealing import Sealer


class CardKeys(DependencyProvider):
    """The keyring that seals and opens card secrets; a malformed key stops the service at start."""

    def setup(self):
        self.keyring = load_keyring()

    def get_dependency(self, worker_ctx):
        return self.keyring


class SupplierSecrets(DependencyProvider):
    """Seals and opens suppliers' API secrets (a key derived for that purpose alone)."""

    def setup(self):
        self.sealer = Sealer.from_env("supplier")

    def get_dependency(self, worker_ctx):
        return self.sealer
