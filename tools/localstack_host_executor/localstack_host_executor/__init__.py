"""LocalStack Lambda runtime executor that runs Python functions as host processes, no Docker.

Modules, in the order a request meets them:

* ``plugin``: the ``host`` entry in LocalStack's ``localstack.lambda.runtime_executor`` plugins.
* ``executor``: ``HostRuntimeExecutor``, inside LocalStack; starts and stops environments.
* ``settings``: the ``HOST_EXECUTOR_*`` variables (interpreter per runtime, gateway host).
* ``layout``: code and layer folders on the import path, the runtime's environment variables.
* ``environment``: the environment process (LocalStack's init protocol), one per environment.
* ``runtime_api``: the Lambda Runtime API that ``awslambdaric`` talks to.
* ``runtime_process``: the ``awslambdaric`` process and its log output.
"""
