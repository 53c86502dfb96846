"""Run the notebooks on the real data and save their outputs in them, as the docs show them.

The outputs in `nbs/*.ipynb` (the figures, tables and printed results the docs show) come from real runs: every cell
executed, the `#| slow` ones included, with the real data in `shared/realdata` beside the repository (or
`$FLOWERCLF_REALDATA`). This runs each notebook in a fresh Jupyter kernel (`jupyter nbconvert --execute --inplace`,
from `nbs/`, as `nbdev_test` runs them), then `nbdev_clean` normalises them. Run from the repository root, in the
venv (`pip install -e ".[dev]"`):

    python tools/execute_notebooks.py                      # every notebook, in order
    python tools/execute_notebooks.py 04_training 09_cli   # some of them
"""
from __future__ import annotations
import argparse, subprocess, sys, time
from pathlib import Path

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('names', nargs='*', help='notebook names (default: all in nbs/)')
    ap.add_argument('--timeout', type=int, default=7200, help='seconds a cell may take (default 7200)')
    args = ap.parse_args(argv)
    root = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root))
    from flowerclf.core import realdata
    realdata()                                              # fails, saying so, without the real data
    nbs = root/'nbs'
    names = [n if n.endswith('.ipynb') else f'{n}.ipynb' for n in args.names] or sorted(p.name for p in nbs.glob('*.ipynb'))
    jupyter = Path(sys.executable).parent/'jupyter'
    for name in names:
        t = time.time()
        r = subprocess.run([str(jupyter), 'nbconvert', '--to', 'notebook', '--execute', '--inplace',
                            f'--ExecutePreprocessor.timeout={args.timeout}', name], cwd=nbs, capture_output=True, text=True)
        if r.returncode: sys.exit(f'{name} failed:\n{r.stderr[-3000:]}')
        print(f'{name}: executed in {time.time() - t:.0f} s', flush=True)
    subprocess.run([str(Path(sys.executable).parent/'nbdev_clean')], cwd=root, check=True)
    sizes = {p.name: p.stat().st_size for p in sorted(nbs.glob('*.ipynb'))}
    print(f'notebooks: {sum(sizes.values()) / 1e6:.2f} MB in all; ' + ', '.join(f'{k} {v / 1e3:.0f} kB' for k, v in sizes.items()))

if __name__ == '__main__': main()
