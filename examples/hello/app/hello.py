"""The example service: prints a greeting and the version of a library it depends on."""

import six

print(f"hello from an attested image (six {six.__version__})")
