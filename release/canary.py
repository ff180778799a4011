"""The canary: a candidate version answers a share of requests before it is promoted.

``start`` writes the SSM candidate parameter (``{"version": "3", "percent": 10}``, see
:mod:`predict.canary`) and points the MLflow ``candidate`` alias at the version, as the
serving alias and ``champion`` move together. ``promote`` makes the candidate the
champion and clears both; ``abort`` only clears them. Like promotion and rollback, each
validates first and writes through :meth:`release.alias.ModelAlias.change`, so a failed
write leaves every alias as it was.

Example:
    >>> canary = Canary(ModelAlias(DeploymentSettings()))
    >>> canary.start("3", percent=10)   # 10 % of requests answered by version 3
    >>> canary.start("3", percent=50)   # the same candidate, a larger share
    >>> canary.promote()                # version 3 is the champion; no canary
"""

from dataclasses import dataclass, replace

from pydantic import ValidationError

from predict.canary import NO_VERSION, CanaryRoute
from release.alias import ModelAlias, ReleaseState
from release.errors import CanaryRefused, NoCanary


@dataclass(frozen=True)
class CanaryStatus:
    """What serves: the champion, and the canary if one runs."""

    champion: str
    route: CanaryRoute | None
    registered_champion: str | None
    registered_candidate: str | None


class Canary:
    """Starts, promotes and aborts the canary of one registered model.

    Args:
        alias: the serving alias (its settings name both SSM parameters and MLflow aliases).
    """

    def __init__(self, alias: ModelAlias):
        self.alias = alias
        self.settings = alias.settings

    def status(self) -> CanaryStatus:
        """The champion and the running canary (None when none runs).

        Raises:
            InvalidCandidateValue: the candidate parameter is malformed.
        """
        state = self.alias.state()
        return CanaryStatus(
            champion=state.serving,
            route=state.route(),
            registered_champion=state.champion,
            registered_candidate=state.registered_candidate,
        )

    def start(self, version: str, percent: float) -> CanaryRoute:
        """Send ``percent`` % of requests to ``version``; again with the same version, change
        its share.

        Raises:
            CanaryRefused: percent not in (0, 100], nothing serves yet, ``version`` already
                serves as champion, another candidate runs, or the stack has no candidate
                parameter; nothing changed.
            VersionNotPublished, InvalidManifest: the version is not servable; nothing changed.
            AliasUpdateFailed: a write failed; every alias was restored.
        """
        route = self._route(version, percent)
        self.alias.published_manifest(version)
        state = self.alias.state()
        parameter = self.settings.candidate_parameter
        if state.candidate is None:
            raise CanaryRefused(
                f"SSM parameter {parameter!r} does not exist: deploy the stack (make deploy), "
                "whose template creates it and lets the function read it"
            )
        if state.serving == NO_VERSION:
            raise CanaryRefused("no version serves yet: promote one before a canary")
        if version == state.serving:
            raise CanaryRefused(f"version {version!r} already serves as the champion")
        running = state.route()
        if running is not None and running.version != version:
            raise CanaryRefused(
                f"a canary of version {running.version!r} runs ({running.percent:g} %): "
                "promote or abort it first"
            )
        target = replace(state, candidate=route.to_parameter(), registered_candidate=version)
        self.alias.change(target, f"canary start of version {version!r}")
        return route

    def promote(self) -> CanaryRoute:
        """Make the candidate the champion (serving alias and MLflow ``champion``) and end
        the canary; the route that ran.

        Raises:
            NoCanary: no canary runs; nothing changed.
            VersionNotPublished, InvalidManifest: the candidate is no longer servable.
            AliasUpdateFailed: a write failed; every alias was restored.
        """
        state, route = self._running()
        self.alias.published_manifest(route.version)
        target = replace(state, serving=route.version, champion=route.version).without_canary()
        self.alias.change(target, f"canary promotion of version {route.version!r}")
        return route

    def abort(self) -> str:
        """End the canary: the champion answers every request again; the candidate's
        version. A malformed candidate parameter is reset too.

        Raises:
            NoCanary: no canary runs; nothing changed.
            AliasUpdateFailed: a write failed; every alias was restored.
        """
        state = self.alias.state()
        if state.candidate in (None, NO_VERSION) and state.registered_candidate is None:
            raise NoCanary(self._none_runs())
        self.alias.change(state.without_canary(), "canary abort")
        return state.route_version() or state.registered_candidate or NO_VERSION

    def _running(self) -> tuple[ReleaseState, CanaryRoute]:
        state = self.alias.state()
        route = state.route()
        if route is None:
            raise NoCanary(self._none_runs())
        return state, route

    def _none_runs(self) -> str:
        return f"no canary runs: {self.settings.candidate_parameter} is {NO_VERSION!r}"

    @staticmethod
    def _route(version: str, percent: float) -> CanaryRoute:
        try:
            return CanaryRoute(version=version, percent=percent)
        except ValidationError as error:
            problems = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in error.errors())
            raise CanaryRefused(f"cannot start a canary of {version!r}: {problems}") from error
