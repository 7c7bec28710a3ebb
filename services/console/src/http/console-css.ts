/** The console's one stylesheet, served from the app (a stylesheet, not inline: the CSP allows no inline style). */
export const consoleCss = `
body{font:14px/1.5 system-ui,sans-serif;margin:0;color:#1d2330}
main,.reference{max-width:72rem;margin:1.5rem auto;padding:0 1rem}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}h3{font-size:1rem;margin:.2rem 0}
table{border-collapse:collapse;width:100%}td,th{padding:.3rem .5rem;border-bottom:1px solid #e3e6ee;text-align:left;vertical-align:top}
.SERVING,.allow{color:#17794a;font-weight:600}.UNREACHABLE,.NOT_SERVING,.deny{color:#b3261e;font-weight:600}
input,select,textarea{font:inherit;padding:.3rem}button{font:inherit;padding:.3rem .8rem;cursor:pointer}
.muted{color:#6b7280}.error{color:#b3261e}.op{border-top:1px solid #e3e6ee;padding:.5rem 0}
.method{display:inline-block;min-width:4rem;font-weight:700}.get{color:#17794a}.post{color:#1d4ed8}.put,.patch{color:#a16207}.delete{color:#b3261e}
nav{background:#1d2330;color:#fff;padding:.5rem 1rem;display:flex;gap:1rem;align-items:center;flex-wrap:wrap}nav a{color:#fff;text-decoration:none}nav .who{margin-left:auto;color:#cbd5e1}
.secret{font-family:monospace;background:#fef9c3;padding:.3rem;word-break:break-all}
.field-error{color:#b3261e;font-size:.9em}
.links{font-size:.85em;margin:0 .5rem}.links a{color:#2563eb}
.qr svg{width:200px;height:200px}
`;
