"""Registers the executor with LocalStack (entry point ``localstack.lambda.runtime_executor``).

Chosen with ``LAMBDA_RUNTIME_EXECUTOR=host``; the executor class is imported only then.
"""

from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin


class HostRuntimeExecutorPlugin(RuntimeExecutorPlugin):
    name = "host"

    def load(self, *args, **kwargs):
        from localstack_host_executor.executor import HostRuntimeExecutor

        return HostRuntimeExecutor
