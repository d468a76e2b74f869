#![allow(missing_docs)]
#[test]
fn dbg() {
    let Ok(f) = std::env::var("DBG_FILE") else {
        return;
    };
    let snap = turbowish_snap::read_file(std::path::Path::new(&f)).unwrap();
    for root in &snap.roots {
        for (i, &t) in root.targets.iter().enumerate() {
            let label = root.labels.get(i).map(|&l| snap.string(l)).unwrap_or("");
            if label.contains("signal_hook") {
                let b = snap.block(t);
                println!(
                    "root {:?} label {label} -> block {t} @{:#x} size {} stack {}",
                    root.kind, b.addr, b.size, b.stack
                );
                for e in snap.edges.iter().filter(|e| e.from == t) {
                    let x = snap.block(e.to);
                    println!(
                        "    out -> {} @{:#x} size {} {:?}",
                        e.to, x.addr, x.size, e.kind
                    );
                }
            }
        }
    }
}
