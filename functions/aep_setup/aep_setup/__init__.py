"""The CloudFormation custom resource that converges AEP to a setup file (``Custom::AepSetup``):
:mod:`aep_setup.resource` answers CloudFormation on every path, :mod:`aep_setup.converge` runs
``aep.setup apply`` and picks the outputs, :mod:`aep_setup.response` sends the one answer."""
