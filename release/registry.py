"""The MLflow side of a release: aliases of the registered model (``champion``, ``candidate``)."""

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from release.settings import DeploymentSettings


class RegistryAlias:
    """One MLflow alias of the registered model, following an SSM parameter: ``champion``
    follows the serving alias, ``candidate`` the canary's candidate parameter.

    Example:
        >>> champion = RegistryAlias(settings, settings.champion_alias)
        >>> champion.set("3"); champion.get()
        '3'
    """

    def __init__(self, settings: DeploymentSettings, alias: str):
        # Both URIs explicit: MlflowClient otherwise takes the process-wide registry URI,
        # which a training run in the same process may have set to another database.
        uri = settings.mlflow_db_uri
        self._client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        self._model_name = settings.registered_model_name
        self.alias = alias

    def get(self) -> str | None:
        """The version the alias names, or None when it is unset."""
        try:
            version = self._client.get_model_version_by_alias(self._model_name, self.alias)
        except MlflowException:
            return None
        return str(version.version)

    def set(self, version: str) -> None:
        """Point the alias at a registered model version (raises if the version is unknown)."""
        self._client.set_registered_model_alias(self._model_name, self.alias, version)

    def restore(self, version: str | None) -> None:
        """Put the alias back to ``version``, deleting it when it was unset."""
        if version is None:
            self._client.delete_registered_model_alias(self._model_name, self.alias)
        else:
            self.set(version)
