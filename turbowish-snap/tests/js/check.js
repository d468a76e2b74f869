// Loads a V8 heap snapshot with memlab's heap analysis API (the loader and
// the dominator and retained-size computation memlab runs on every heap)
// and writes what the Rust tests compare with TurboWish, as JSON, to OUT:
// node and edge counts, the native nodes (blocks) of most retained size,
// and with --all every native node's id, retained size and dominator's id.
//
// Usage: node check.js FILE OUT [--all]
'use strict';
const fs = require('fs');
const {getFullHeapFromFile} = require('@memlab/heap-analysis');

async function main() {
  const [file, out, flag] = process.argv.slice(2);
  const heap = await getFullHeapFromFile(file);
  const blocks = [];
  heap.nodes.forEach(node => {
    if (node.type === 'native') {
      const dominator = node.dominatorNode ? node.dominatorNode.id : null;
      blocks.push({id: node.id, name: node.name, retained: node.retainedSize, dominator});
    }
  });
  blocks.sort((a, b) => b.retained - a.retained || a.id - b.id);
  const result = {
    nodes: heap.nodes.length,
    edges: heap.edges.length,
    top: blocks.slice(0, 5),
    all: flag === '--all' ? blocks : [],
  };
  fs.writeFileSync(out, JSON.stringify(result));
}

main().catch(e => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
