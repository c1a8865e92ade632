"""The offline stack shared by ``make demo``, ``make local`` and ``make invoke``: moto's server for AWS,
the AEP emulator for Adobe, ``template.yaml``'s resources and functions on them (:class:`LocalStack`).
Nothing leaves the machine."""

from stack.stack import LocalStack, Options

__all__ = ["LocalStack", "Options"]
