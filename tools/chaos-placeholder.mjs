// Stand-in for the harness (issue: "Chaos Mesh experiments run locally"): `npx nx chaos` exists from day one.
console.log('nova chaos: no experiment suite is defined yet (the harness in tools/chaos is not built).');
console.log('What works today: libs/resilience (npx nx test resilience, npx nx bench resilience).');
