"""The contract between the kernel and the apps: what both sides must agree on, and
nothing else. It is the bottom layer of tockd (docs/layers.md): every module here
imports only the standard library and msgpack, never another part of the project, so
the app library (`apps_py.libtock`) can depend on it without loading kernel code, and
the kernel can depend on it without knowing the apps.

- `abi`: syscall classes, return variants, error codes, memops, driver numbers, frame
  tags (Tock's TRD104 and `kernel/src/syscall.rs`, release-2.2);
- `drivers`: each driver's command, upcall (subscribe) and allow numbers;
- `wire`: the msgpack framing of those frames;
- `returns`: the text of a syscall return, as Tock's trace prints it;
- `tbf`: the TBF header layout an app reads back from its flash;
- `pages`: the page size, and how both sides map the shared RAM pages;
- `zygote`: the messages between the daemon and the app zygote.

The package itself re-exports nothing: importing it stays free.
"""
