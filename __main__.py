"""The lexstream stack: read this stack's config, deploy one StreamingBackend, export it.

The same folder is a Pulumi plugin (PulumiPlugin.yaml): a language host starts it with
`python <folder> <engine address>`, and then it serves StreamingBackend to programs in
other languages instead (see `provider`).
"""

import pulumi

from components import InvalidArgumentError, StackConfigError, StreamingBackend, read_stack_args
from provider import launched_as_plugin, serve

if launched_as_plugin():
    serve()
    raise SystemExit(0)

args = read_stack_args()
name = f"lexstream-{pulumi.get_stack()}"
try:
    backend = StreamingBackend(name, args)
except InvalidArgumentError as error:
    if error.argument != "name":
        raise
    # The component's name is the stack's: say so, without a Python traceback.
    raise StackConfigError(f"the stack name {pulumi.get_stack()!r} is too long: {error}") from None

pulumi.export("websocket_url", backend.websocket_url)
pulumi.export("callback_url", backend.callback_url)
pulumi.export("table_name", backend.table_name)
pulumi.export("fulfillment_policy_arn", backend.fulfillment_policy_arn)
pulumi.export("api_id", backend.api_id)
pulumi.export("usage_plan_id", backend.usage_plan_id)
pulumi.export("helper_layer_arn", backend.helper_layer_arn)
pulumi.export("web_ui_config", backend.web_ui_config)
if backend.web_ui_policy_arn is not None:
    pulumi.export("web_ui_policy_arn", backend.web_ui_policy_arn)
if backend.example_function_arn is not None:
    pulumi.export("example_function_arn", backend.example_function_arn)
