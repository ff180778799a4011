"""A small client of the deployed prediction API (used by the demo, tests and benchmarks)."""

import time
from dataclasses import dataclass

import requests


class VersionSwitchTimeout(RuntimeError):
    """The API kept answering from another version past the deadline."""


@dataclass(frozen=True)
class PredictApi:
    """The REST API at ``base_url`` (see :func:`release.stack.api_base_url`).

    Example:
        >>> api = PredictApi("http://127.0.0.1:4566/_aws/execute-api/abc123/dev")
        >>> api.predict(Path("bus.jpg").read_bytes())["model_version"]  # doctest: +SKIP
        '2'
    """

    base_url: str
    timeout_s: float = 60.0

    def predict(self, image: bytes, content_type: str = "image/jpeg") -> dict:
        """POST an image as the raw body; the JSON answer (raises on a non-2xx status)."""
        response = self.post_predict(image, content_type)
        response.raise_for_status()
        return response.json()

    def post_predict(self, body: bytes, content_type: str) -> requests.Response:
        """POST ``body`` to /predict with ``content_type``; the raw response, any status."""
        return requests.post(
            f"{self.base_url}/predict",
            data=body,
            headers={"Content-Type": content_type},
            timeout=self.timeout_s,
        )

    def get(self, path: str) -> requests.Response:
        """GET ``path`` (e.g. ``/health``); the raw response, any status."""
        return requests.get(f"{self.base_url}{path}", timeout=self.timeout_s)

    def serving_version(self) -> str | None:
        """The version ``GET /model/info`` reports, or None while it answers an error."""
        response = self.get("/model/info")
        return response.json()["version"] if response.ok else None

    def serving_candidate(self) -> str | None:
        """The canary's candidate ``GET /model/info`` reports as serving, or None."""
        response = self.get("/model/info")
        return response.json().get("candidate_version") if response.ok else None

    def wait_for_version(self, version: str, deadline_s: float = 120.0) -> float:
        """Poll ``/model/info`` until it reports ``version``; the seconds it took.

        Raises:
            VersionSwitchTimeout: still another version after ``deadline_s`` seconds.
        """
        return self._wait(self.serving_version, version, "version", deadline_s)

    def wait_for_candidate(self, version: str | None, deadline_s: float = 120.0) -> float:
        """Poll ``/model/info`` until the candidate serving is ``version`` (None: no canary);
        the seconds it took.

        Raises:
            VersionSwitchTimeout: still another candidate after ``deadline_s`` seconds.
        """
        return self._wait(self.serving_candidate, version, "candidate", deadline_s)

    @staticmethod
    def _wait(read, expected: str | None, what: str, deadline_s: float) -> float:
        start = time.monotonic()
        while (waited := time.monotonic() - start) < deadline_s:
            if read() == expected:
                return waited
            time.sleep(0.5)
        raise VersionSwitchTimeout(f"API did not serve {what} {expected} within {deadline_s} s")
