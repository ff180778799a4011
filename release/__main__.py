from release.cli import app

app(prog_name="python -m release")
