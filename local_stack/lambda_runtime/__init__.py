"""Run Lambda functions the way Lambda does: each instance its own OS process.

Every instance is started through AWS's own runtime interface client (`awslambdaric`
for Python, `aws-lambda-ric` for Node.js) and gets its events from the Runtime API this
package serves on loopback (`runtime_api`). An instance sees the environment Lambda
gives and nothing of this process (`sandbox`), serves one invocation at a time
(`instance`), and a function starts more instances as invocations overlap
(`function`).
"""

from .function import DEFAULT_MAX_INSTANCES, FunctionError, LambdaFunction
from .instance import kill_every_instance

__all__ = ["DEFAULT_MAX_INSTANCES", "FunctionError", "LambdaFunction", "kill_every_instance"]
