require('fs').writeFileSync(__dirname + '/generated.txt', 'made by postinstall\n');
