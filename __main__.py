"""The lexstream stack: read this stack's config, deploy one StreamingBackend, export it.

The same folder is a Pulumi plugin (PulumiPlugin.yaml): a language host starts it with
`python <folder> <engine address>`, and then it serves StreamingBackend to programs in
other languages instead (see `provider`).
"""

import pulumi

from components import InvalidArgumentError, StackConfigError, StreamingBackend, read_stack_args
from components.stack_config import config_error
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
        # Checked against the stack's region, which only the provider knows: still a
        # config error, naming the keys.
        raise config_error(error) from None
    # The component's name is the stack's: say so, without a Python traceback.
    raise StackConfigError(f"the stack name {pulumi.get_stack()!r} is too long: {error}") from None

# Every output the component sets, under its own name (StreamingBackend's annotations).
for output, value in backend.output_values().items():
    pulumi.export(output, value)
