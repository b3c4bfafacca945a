"""Program code every generated file shares, as real modules: linted, unit-tested, then included.

Each module here is valid Python on its own, and `symbackprop.emit.render.runtime(name)` returns its
text for a template to include verbatim, so a generated trainer stays one standalone file that
imports only NumPy and the standard library (never symbackprop). The include step drops:

* the module docstring and the leading import block: what the code needs from the standard
  library and NumPy the generated file imports itself, and what it needs from the spec
  (LAYERS, PARAM_NAMES, loss, gradients, ...) or from another runtime module the file defines
  before it. Those come from `_trainer`, typed stand-ins that tests replace with monkeypatch;
* the wrapper of `def cell() -> None:`, in a module that is one notebook cell: its body is the
  cell's top-level code, dedented (a function, so importing the module runs nothing);
* the marker lines of a slot, `# slot NAME: why` ... `# end slot NAME`: the lines between
  them are a default (what tests run) that the template replaces with spec-dependent code.
"""
