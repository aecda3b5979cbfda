"""`midivae studio`: the composing page in the browser (`midivae.studio`), served locally."""

from __future__ import annotations

import socket

from midivae.cli.checks import Failure


def _cmd_studio(args) -> int:
    try:
        import uvicorn
        from midivae.studio import Studio, create_app
    except ImportError as err:
        raise Failure(f"the studio needs {err.name}: pip install 'midivae[studio]' (or make "
                      "demo, which installs it)") from None
    from midivae.api import load
    from midivae.run.zoo import shipped_models

    names = [m.name for m in shipped_models()]
    if args.model is not None:
        load(args.model)  # a bad checkpoint or name: one line, before the server starts
        names = [args.model] + [n for n in names if n != args.model]
    if not names:
        raise Failure("no shipped model is installed: give --model CKPT")
    with socket.socket() as s:  # a port in use: one line, not uvicorn's log
        try:
            s.bind((args.host, args.port))
        except OSError as err:
            raise Failure(f"cannot listen on {args.host}:{args.port} ({err.strerror}); "
                          "choose another --port") from None
    app = create_app(Studio(names))
    where = f"http://{args.host}:{args.port}/"
    print(f"midivae studio: {where} with {', '.join(names)} (Ctrl-C stops it)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
