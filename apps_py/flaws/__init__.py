"""The apps the flaw experiments (`tockd.experiments`) run. They are apps like any other:
they import only `apps_py.libtock`, and run sandboxed, reading nothing of the kernel's
package (an app may read its own top-level package, here `apps_py`)."""
